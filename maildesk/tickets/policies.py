"""The configured SLA policies, routing rules and categories, ready to apply.

Where it sits in the flow: built once from the `Config` when the pipeline is
built (`maildesk check-config` builds it too), so a bad calendar or rule is a
config error naming its key. The `[[rule]]` settings arrive typed and become core
`Rule`s through `Rule.parse`, which checks their values once. The pipeline asks
it for a new ticket's routing and auto-assignment, and the SLA tracking
(`maildesk.tickets.sla_clock`) for the calendar and targets of a ticket's priority and category.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from maildesk.config import CategoryConfig, Config, ConfigError, RuleConfig, SlaConfig
from maildesk.core.routing import Rule, RuleError, Strategy
from maildesk.core.sla import Calendar, SlaConfigError, Target, parse_duration
from maildesk.settings.fields import FieldError, Fields

T = TypeVar("T")
ANY_CATEGORY = "*"  # a [[sla_policy]] for every category of its desks


@dataclass(frozen=True)
class Policy:
    calendar: Calendar
    targets: Mapping[str, Target]  # by priority; a priority not here has no SLA


@dataclass(frozen=True)
class Category:
    name: str
    agents: tuple[str, ...]
    strategy: Strategy


@dataclass(frozen=True)
class Policies:
    enabled: bool
    default: Policy
    # Keyed by (desk slug, lower-cased category name); the slug "" is every desk's:
    # an entry naming desks applies to their tickets only, and wins over one naming none.
    by_category: Mapping[tuple[str, str], Policy]
    warn_share: float
    rules: tuple[Rule, ...]
    categories: Mapping[tuple[str, str], Category]
    digest_time: dt.time | None
    rule_desks: tuple[frozenset[str], ...] = ()  # per rule: its desks; empty: every desk

    def policy(self, category: str | None, desk: str = "") -> Policy:
        """The category's policy (of the desk, else of every desk), else the desk's own
        (`category = "*"`), else [sla]'s."""
        found = None if category is None else _of_desk(self.by_category, category, desk)
        return found or self.by_category.get((desk, ANY_CATEGORY)) or self.default

    def target(
        self, priority: str, category: str | None, desk: str = ""
    ) -> tuple[Calendar, Target | None]:
        policy = self.policy(category, desk)
        return policy.calendar, policy.targets.get(priority)

    @property
    def next_response(self) -> bool:
        """Some priority, of some policy, has a next-response target: reports count them."""
        policies = (self.default, *self.by_category.values())
        return self.enabled and any(
            target.next_response is not None
            for policy in policies
            for target in policy.targets.values()
        )

    def category(self, name: str | None, desk: str = "") -> Category | None:
        return None if name is None else _of_desk(self.categories, name, desk)

    def rules_for(self, desk: str) -> tuple[Rule, ...]:
        """The routing rules that apply to new tickets of this desk, in order."""
        if not any(self.rule_desks):
            return self.rules
        return tuple(
            rule
            for rule, desks in zip(self.rules, self.rule_desks, strict=True)
            if not desks or desk in desks
        )


def _of_desk(table: Mapping[tuple[str, str], T], name: str, desk: str) -> T | None:
    key = name.lower()
    return table.get((desk, key)) or table.get(("", key))


def build_policies(config: Config) -> Policies:
    """Raises ConfigError naming the key of the first problem."""
    sla = config.sla
    priorities = config.tickets.priorities
    fields = Fields.from_config(config)
    calendar = _calendar(sla, sla.business_hours, "sla.business_hours")
    default = Policy(calendar, _targets(sla.targets, priorities, "sla.targets"))
    by_category: dict[tuple[str, str], Policy] = {}
    for index, entry in enumerate(config.sla_policy):
        key = f"sla_policy[{index}]"
        name = entry.category.strip().lower()
        hours = entry.business_hours
        if name == ANY_CATEGORY and not entry.desks:
            raise ConfigError(f"{key}.category", '"*" (every category) needs desks: use [sla]')
        own_calendar = hours or entry.holidays
        policy = Policy(
            _calendar(sla, hours or sla.business_hours, f"{key}.business_hours", entry.holidays)
            if own_calendar
            else calendar,
            _targets(entry.targets, priorities, f"{key}.targets")
            if entry.targets
            else default.targets,
        )
        for desk in entry.desks or ("",):
            if (desk, name) in by_category:
                raise ConfigError(f"{key}.category", f"{entry.category!r} has a policy already")
            by_category[desk, name] = policy
    return Policies(
        enabled=sla.enabled,
        default=default,
        by_category=by_category,
        warn_share=sla.warn_percent / 100,
        rules=tuple(
            _rule(rule, index, priorities, fields) for index, rule in enumerate(config.rule)
        ),
        categories=_categories(config.category),
        digest_time=_digest_time(sla.digest_time),
        rule_desks=tuple(frozenset(rule.desks) for rule in config.rule),
    )


def _calendar(
    sla: SlaConfig, hours: tuple[str, ...], key: str, holidays: tuple[str, ...] = ()
) -> Calendar:
    try:
        return Calendar.parse(sla.timezone, hours, holidays or sla.holidays)
    except SlaConfigError as exc:
        message = str(exc)
        if "zone" in message.lower():
            key = "sla.timezone"
        elif "holiday" in message.lower():
            key = "sla.holidays"
        raise ConfigError(key, message) from None


def _targets(entries: tuple[str, ...], priorities: tuple[str, ...], key: str) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    for entry in entries:
        words = entry.split()
        if len(words) not in (3, 4):
            raise ConfigError(
                key, f'{entry!r}: expected "PRIORITY FIRST_RESPONSE RESOLUTION [NEXT_RESPONSE]"'
            )
        priority = words[0].lower()
        if priority not in priorities:
            raise ConfigError(key, f"{entry!r}: {priority!r} is not one of the priorities")
        if priority in targets:
            raise ConfigError(key, f"{entry!r}: {priority!r} has a target already")
        try:
            seconds = [parse_duration(word) for word in words[1:]]
        except SlaConfigError as exc:
            raise ConfigError(key, f"{entry!r}: {exc}") from None
        if any(value <= 0 for value in seconds):
            raise ConfigError(key, f"{entry!r}: targets must be longer than zero")
        first, resolution, *following = seconds
        targets[priority] = Target(first, resolution, following[0] if following else None)
    return targets


def _rule(rule: RuleConfig, index: int, priorities: tuple[str, ...], fields: Fields) -> Rule:
    """The core rule of a `[[rule]]` entry; empty settings are conditions and actions
    not given. Field conditions are checked against `[[field]]` (a value a field
    cannot take would never match)."""
    try:
        conditions = fields.filters(rule.field)
    except FieldError as exc:
        raise ConfigError(f"rule[{index}].field", str(exc)) from None
    try:
        return Rule.parse(
            f"rule {index}",
            priorities,
            name=rule.name or None,
            recipients=rule.recipient,
            senders=rule.sender,
            sender_domains=rule.sender_domain,
            keywords=rule.keyword,
            subject_only=rule.subject_only,
            fields=conditions,
            category=rule.set_category or None,
            priority=rule.set_priority or None,
            tags=rule.add_tags,
            stop=rule.stop,
        )
    except RuleError as exc:
        raise ConfigError(f"rule[{index}]", str(exc)) from None


def _categories(entries: tuple[CategoryConfig, ...]) -> dict[tuple[str, str], Category]:
    categories: dict[tuple[str, str], Category] = {}
    for index, entry in enumerate(entries):
        name = entry.name.strip()
        agents = tuple(a.strip().lower() for a in entry.agents if a.strip())
        for desk in entry.desks or ("",):
            if (desk, name.lower()) in categories:
                raise ConfigError(f"category[{index}].name", f"{name!r} is defined twice")
            categories[desk, name.lower()] = Category(name, agents, entry.assign)
    return categories


def _digest_time(text: str) -> dt.time | None:
    if not text.strip():
        return None
    try:
        hour, minute = (int(part) for part in text.strip().split(":"))
        return dt.time(hour, minute)
    except ValueError:
        raise ConfigError("sla.digest_time", f"expected HH:MM, got {text!r}") from None
