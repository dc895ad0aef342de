"""Tests of maildesk.config: the TOML + environment + .env configuration loader.

Behaviour tests against tmp_path files and explicit ``environ`` dicts; the
committed ``maildesk.toml.example`` is checked against ``render_example()``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from maildesk.config import (
    DEFAULT_CONFIG_PATH,
    SECTIONS,
    SETTINGS,
    Config,
    ConfigError,
    ImapConfig,
    load_config,
    password_from_env,
    read_environ,
    render_example,
    render_starter,
    resolve_config_path,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PATH = REPO_ROOT / "maildesk.toml.example"

MAILBOX = '[[imap]]\nhost = "imap.example.net"\nusername = "desk"\n'


def write(tmp_path: Path, text: str, name: str = "maildesk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), {} if environ is None else environ)


def error_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, environ)
    err = info.value
    assert str(err) == f"{err.key}: {err.message}"
    assert "\n" not in str(err)
    return err


def defaults() -> Config:
    return load_config(None, {})


def defaults_in(folder: Path) -> Config:
    """The defaults as a file in `folder` gives them: relative paths made absolute there."""
    config = defaults()
    return dataclasses.replace(
        config,
        database=dataclasses.replace(config.database, url=f"sqlite:///{folder}/var/maildesk.db"),
        outbound=dataclasses.replace(config.outbound, maildir=f"{folder}/var/outbox"),
    )


# ---------------------------------------------------------------- defaults


def test_defaults_match_published_contract() -> None:
    config = defaults()
    assert config.path is None
    assert config.desk.name == "Example Support"
    assert config.desk.ticket_prefix == "SUP"
    assert config.desk.addresses == ("support@example.com",)
    assert config.desk.base_url == "http://127.0.0.1:8080"
    assert config.desk.secret_key == ""
    assert config.database.url == "sqlite:///var/maildesk.db"
    assert (config.smtp.enabled, config.smtp.host, config.smtp.port) == (True, "127.0.0.1", 2525)
    assert (config.smtp.lmtp, config.smtp.max_message_size) == (False, 26214400)
    assert config.imap == ()
    o = config.outbound
    assert (o.mode, o.maildir, o.host, o.port, o.tls) == (
        "maildir",
        "var/outbox",
        "127.0.0.1",
        25,
        "starttls",
    )
    assert (o.username, o.password_env) == ("", "MAILDESK_SMTP_PASSWORD")
    assert (config.web.enabled, config.web.host, config.web.port) == (True, "127.0.0.1", 8080)
    assert config.security.trusted_authserv_id == ""
    assert config.tickets.priorities == ("low", "medium", "high", "urgent")
    assert config.tickets.default_priority == "medium"
    assert config.tickets.reopen_days == 14
    assert config.logging.level == "info"


def test_config_is_frozen() -> None:
    config = defaults()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.smtp.port = 1  # type: ignore[misc]


def test_settings_table_matches_dataclasses() -> None:
    for section in SECTIONS:
        names = [s.name for s in SETTINGS if s.section == section.name]
        assert names == [f.name for f in dataclasses.fields(section.cls)], section.name
    assert [f.name for f in dataclasses.fields(Config)] == [s.name for s in SECTIONS] + ["path"]
    for setting in SETTINGS:
        assert setting.help and "\n" not in setting.help, setting.key


def test_empty_file_gives_defaults_with_path(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    config = load_config(path, {})
    assert config.path == path
    assert dataclasses.replace(config, path=None) == defaults_in(tmp_path)


def test_missing_default_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(DEFAULT_CONFIG_PATH, {}) == defaults()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, {})
    assert info.value.key == "config"
    assert info.value.message == f"file not found: {missing}"


def test_values_are_read_and_normalised(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        """
        [desk]
        ticket_prefix = "hd2"
        addresses = ["Help@Example.ORG", "billing@example.org"]
        base_url = "https://desk.example.org/"
        [database]
        url = "postgresql://desk:s3cret@db.example.org:5433/maildesk?sslmode=require"
        [smtp]
        lmtp = true
        port = 0
        [outbound]
        mode = "smtp"
        tls = "SSL"
        [logging]
        level = "DEBUG"
        """,
    )
    assert config.desk.ticket_prefix == "HD2"
    assert config.desk.addresses == ("help@example.org", "billing@example.org")
    assert config.desk.base_url == "https://desk.example.org"
    assert config.database.url.startswith("postgresql://desk:s3cret@")
    assert (config.smtp.lmtp, config.smtp.port) == (True, 0)
    assert (config.outbound.mode, config.outbound.tls) == ("smtp", "ssl")
    assert config.logging.level == "debug"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/maildesk.db",
        "sqlite:////srv/maildesk/maildesk.db",
        "postgresql://desk@localhost/maildesk",
        "postgres://desk:pw@127.0.0.1:5432/maildesk",
        "postgresql://localhost/maildesk",
    ],
)
def test_database_url_accepted(tmp_path: Path, url: str) -> None:
    relative = url.replace("sqlite:///var", f"sqlite:///{tmp_path}/var")
    assert load_text(tmp_path, f'[database]\nurl = "{url}"\n').database.url == relative


PATHS_IN_FILE = """
[database]
url = "sqlite:///data/desk.db"
[smtp]
tls_cert = "tls/cert.pem"
tls_key = "/etc/ssl/key.pem"
[outbound]
maildir = "../outbox"
templates = "templates"
"""


def test_relative_paths_in_the_file_are_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(write(folder, PATHS_IN_FILE), {})
    assert config.database.url == f"sqlite:///{folder}/data/desk.db"
    assert config.smtp.tls_cert == f"{folder}/tls/cert.pem"
    assert config.smtp.tls_key == "/etc/ssl/key.pem"
    assert config.outbound.maildir == f"{folder}/../outbox"
    assert config.outbound.templates == f"{folder}/templates"
    # The same file named relative to the working directory: the same places.
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc/maildesk.toml"), {}).outbound.templates == str(
        folder / "templates"
    )


def test_relative_paths_from_the_environment_are_left_to_the_working_directory(
    tmp_path: Path,
) -> None:
    environ = {
        "MAILDESK_DATABASE_URL": "sqlite:///here.db",
        "MAILDESK_OUTBOUND_MAILDIR": "out",
        "MAILDESK_OUTBOUND_TEMPLATES": "",
    }
    config = load_config(write(tmp_path, PATHS_IN_FILE), environ)
    assert config.database.url == "sqlite:///here.db"
    assert config.outbound.maildir == "out"
    assert config.outbound.templates == ""
    assert config.smtp.tls_cert == f"{tmp_path}/tls/cert.pem"  # still from the file


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://var/maildesk.db",
        "sqlite:///",
        "mysql://u@h/db",
        "postgresql://desk@/maildesk",
        "postgresql://desk@host:99999/maildesk",
        "postgresql://desk@host/",
        "var/maildesk.db",
        "",
    ],
)
def test_database_url_rejected(tmp_path: Path, url: str) -> None:
    err = error_of(tmp_path, f'[database]\nurl = "{url}"\n')
    assert err.key == "database.url"


def test_database_url_error_hides_password(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[database]\nurl = "mysql://desk:hunter2@db/x"\n')
    assert "hunter2" not in str(err)


# ---------------------------------------------------------------- errors


def test_unknown_key(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[desk]\nticket_prefx = "X"\n')
    assert err.key == "desk.ticket_prefx"
    assert err.message.startswith("unknown key")
    assert "ticket_prefix" in err.message  # suggestion


def test_unknown_section(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[smpt]\nport = 25\n")
    assert err.key == "smpt"
    assert err.message.startswith("unknown section")


def test_section_must_be_a_table(tmp_path: Path) -> None:
    err = error_of(tmp_path, "smtp = 25\n")
    assert err.key == "smtp"
    assert "table" in err.message


def test_wrong_type_string_for_int(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[smtp]\nport = "abc"\n')
    assert str(err) == "smtp.port: expected an integer, got string 'abc'"


def test_bool_is_not_an_int(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[smtp]\nport = true\n")
    assert str(err) == "smtp.port: expected an integer, got boolean true"


def test_int_is_not_a_bool(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[web]\nenabled = 1\n")
    assert err.key == "web.enabled"
    assert "expected a boolean" in err.message and "integer 1" in err.message


def test_list_items_must_be_strings(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[tickets]\npriorities = ["low", 2]\n')
    assert err.key == "tickets.priorities"
    assert "item 1 is integer 2" in err.message


def test_string_is_not_a_list(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[desk]\naddresses = "a@example.com"\n')
    assert err.key == "desk.addresses"
    assert "expected an array of strings" in err.message


def test_bad_choice_lists_allowed_values(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[outbound]\ntls = "tls"\n')
    assert err.key == "outbound.tls"
    assert "ssl, starttls, none" in err.message and "'tls'" in err.message


def test_port_out_of_range(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[smtp]\nport = 70000\n")
    assert str(err) == "smtp.port: must be between 0 and 65535, got 70000"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[smtp]\nmax_message_size = 0\n", "smtp.max_message_size"),
        ("[tickets]\nreopen_days = -1\n", "tickets.reopen_days"),
        ('[desk]\nticket_prefix = "1AB"\n', "desk.ticket_prefix"),
        ('[desk]\nticket_prefix = "ABCDEFGHIJK"\n', "desk.ticket_prefix"),
        ('[desk]\nticket_prefix = "S-P"\n', "desk.ticket_prefix"),
        ("[desk]\naddresses = []\n", "desk.addresses"),
        ('[desk]\naddresses = ["not-an-address"]\n', "desk.addresses"),
        ('[desk]\naddresses = ["a@x.org", "A@x.org"]\n', "desk.addresses"),
        ('[desk]\nbase_url = "ftp://example.com"\n', "desk.base_url"),
        ('[desk]\nbase_url = "example.com"\n', "desk.base_url"),
        ("[tickets]\npriorities = []\n", "tickets.priorities"),
        ('[tickets]\npriorities = ["low", "low"]\n', "tickets.priorities"),
        ('[tickets]\ndefault_priority = "critical"\n', "tickets.default_priority"),
        ('[logging]\nlevel = "verbose"\n', "logging.level"),
        ('[outbound]\nmode = "sendmail"\n', "outbound.mode"),
        ('[outbound]\nmode = "smtp"\nhost = ""\n', "outbound.host"),
        ('[outbound]\npassword_env = "not a name"\n', "outbound.password_env"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    assert error_of(tmp_path, text).key == key


def test_default_priority_must_be_in_custom_priorities(tmp_path: Path) -> None:
    config = load_text(
        tmp_path, '[tickets]\npriorities = ["p3", "p2", "p1"]\ndefault_priority = "p3"\n'
    )
    assert config.tickets.priorities == ("p3", "p2", "p1")
    err = error_of(tmp_path, '[tickets]\npriorities = ["p3", "p2", "p1"]\n')
    assert err.key == "tickets.default_priority"
    assert "p3, p2, p1" in err.message


def test_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp]\nport = = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    err = info.value
    assert err.key == "config"
    assert err.message.startswith(f"{path}: invalid TOML: ")
    assert "line 2" in err.message
    assert "\n" not in str(err)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "maildesk.toml"
    path.write_bytes(b'[desk]\nname = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.key == "config" and "invalid TOML" in info.value.message


def test_config_error_is_one_line() -> None:
    err = ConfigError("desk.name", "first\nsecond")
    assert str(err) == "desk.name: first second"
    assert (err.key, err.message) == ("desk.name", "first second")


# ---------------------------------------------------------------- [[imap]]


def test_imap_mailboxes(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        MAILBOX
        + """
        [[imap]]
        host = "mail.example.org"
        port = 143
        tls = "starttls"
        username = "billing"
        password_env = "BILLING_IMAP_PASSWORD"
        folder = "Billing"
        processed_folder = ""
        poll_interval = 300
        """,
    )
    assert config.imap == (
        ImapConfig(
            host="imap.example.net",
            port=993,
            tls="ssl",
            username="desk",
            password_env="MAILDESK_IMAP_PASSWORD",
            folder="INBOX",
            processed_folder="Processed",
            poll_interval=60,
        ),
        ImapConfig(
            host="mail.example.org",
            port=143,
            tls="starttls",
            username="billing",
            password_env="BILLING_IMAP_PASSWORD",
            folder="Billing",
            processed_folder="",
            poll_interval=300,
        ),
    )


def test_imap_inline_array_of_tables(tmp_path: Path) -> None:
    config = load_text(tmp_path, 'imap = [{host = "h", username = "u"}]\n')
    assert [(m.host, m.username) for m in config.imap] == [("h", "u")]


def test_imap_required_keys(tmp_path: Path) -> None:
    assert str(error_of(tmp_path, '[[imap]]\nusername = "u"\n')) == "imap[0].host: required"
    err = error_of(tmp_path, MAILBOX + '[[imap]]\nhost = "h"\n')
    assert str(err) == "imap[1].username: required"


def test_imap_errors_name_the_index(tmp_path: Path) -> None:
    err = error_of(tmp_path, MAILBOX + MAILBOX.replace('"desk"', '"b"') + "port = 0\n")
    assert str(err) == "imap[1].port: must be between 1 and 65535, got 0"
    err = error_of(tmp_path, MAILBOX + "hots = 'x'\n")
    assert err.key == "imap[0].hots" and err.message.startswith("unknown key")
    err = error_of(tmp_path, MAILBOX + "poll_interval = 0\n")
    assert err.key == "imap[0].poll_interval"
    err = error_of(tmp_path, MAILBOX + "tls = 'tls'\n")
    assert err.key == "imap[0].tls" and "ssl, starttls, none" in err.message
    err = error_of(tmp_path, MAILBOX + "processed_folder = 'INBOX'\n")
    assert err.key == "imap[0].processed_folder"
    err = error_of(tmp_path, MAILBOX + MAILBOX)
    assert err.key == "imap[1]" and "imap[0]" in err.message


def test_imap_single_table_is_a_clear_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[imap]\nhost = "h"\nusername = "u"\n')
    assert err.key == "imap"
    assert "[[imap]]" in err.message


def test_imap_entries_must_be_tables(tmp_path: Path) -> None:
    assert error_of(tmp_path, "imap = [1]\n").key == "imap[0]"
    assert error_of(tmp_path, 'imap = "x"\n').key == "imap"


def test_imap_is_not_overridden_by_environment(tmp_path: Path) -> None:
    config = load_text(
        tmp_path, MAILBOX, {"MAILDESK_IMAP_HOST": "other", "MAILDESK_IMAP_PORT": "x"}
    )
    assert config.imap[0].host == "imap.example.net"


# ---------------------------------------------------------------- environment


def test_env_overrides_with_type_conversion(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        "[smtp]\nport = 2600\n",
        {
            "MAILDESK_SMTP_PORT": " 2700 ",
            "MAILDESK_SMTP_ENABLED": "off",
            "MAILDESK_SMTP_LMTP": "Yes",
            "MAILDESK_WEB_ENABLED": "0",
            "MAILDESK_DESK_ADDRESSES": "A@example.com, b@example.com,",
            "MAILDESK_DESK_TICKET_PREFIX": "ops",
            "MAILDESK_TICKETS_PRIORITIES": "p1,p2",
            "MAILDESK_TICKETS_DEFAULT_PRIORITY": "p2",
            "MAILDESK_LOGGING_LEVEL": "WARNING",
            "MAILDESK_SECURITY_TRUSTED_AUTHSERV_ID": "mx.example.com",
        },
    )
    assert config.smtp.port == 2700
    assert (config.smtp.enabled, config.smtp.lmtp, config.web.enabled) == (False, True, False)
    assert config.desk.addresses == ("a@example.com", "b@example.com")
    assert config.desk.ticket_prefix == "OPS"
    assert config.tickets.priorities == ("p1", "p2")
    assert config.tickets.default_priority == "p2"
    assert config.logging.level == "warning"
    assert config.security.trusted_authserv_id == "mx.example.com"


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "on"])
def test_env_bool_true_words(word: str) -> None:
    assert load_config(None, {"MAILDESK_SMTP_LMTP": word}).smtp.lmtp is True


@pytest.mark.parametrize("word", ["0", "false", "no", "Off"])
def test_env_bool_false_words(word: str) -> None:
    assert load_config(None, {"MAILDESK_SMTP_ENABLED": word}).smtp.enabled is False


def test_env_aliases() -> None:
    config = load_config(
        None,
        {
            "MAILDESK_SECRET_KEY": "k" * 32,
            "MAILDESK_DATABASE_URL": "postgresql://u:p@db/maildesk",
        },
    )
    assert config.desk.secret_key == "k" * 32
    assert config.database.url == "postgresql://u:p@db/maildesk"
    generic = load_config(None, {"MAILDESK_DESK_SECRET_KEY": "generic"})
    assert generic.desk.secret_key == "generic"
    both = load_config(None, {"MAILDESK_DESK_SECRET_KEY": "g", "MAILDESK_SECRET_KEY": "alias"})
    assert both.desk.secret_key == "alias"


def test_env_beats_file(tmp_path: Path) -> None:
    config = load_text(
        tmp_path, '[desk]\nsecret_key = "from-file"\n', {"MAILDESK_SECRET_KEY": "from-env"}
    )
    assert config.desk.secret_key == "from-env"


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("MAILDESK_SMTP_PORT", "abc", "smtp.port"),
        ("MAILDESK_SMTP_PORT", "", "smtp.port"),
        ("MAILDESK_SMTP_ENABLED", "maybe", "smtp.enabled"),
        ("MAILDESK_SMTP_PORT", "99999", "smtp.port"),
        ("MAILDESK_LOGGING_LEVEL", "loud", "logging.level"),
        ("MAILDESK_DATABASE_URL", "mysql://x/y", "database.url"),
        ("MAILDESK_DESK_ADDRESSES", "", "desk.addresses"),
        ("MAILDESK_TICKETS_DEFAULT_PRIORITY", "none", "tickets.default_priority"),
    ],
)
def test_bad_env_values_name_variable_and_key(name: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {name: value})
    err = info.value
    assert err.key == key
    assert name in err.message
    assert "\n" not in str(err)


def test_bad_env_int_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"MAILDESK_SMTP_PORT": "abc"})
    assert str(info.value) == (
        "smtp.port: expected an integer, got 'abc' (from environment variable MAILDESK_SMTP_PORT)"
    )


def test_unknown_maildesk_variables_are_ignored() -> None:
    environ = {
        "MAILDESK_CONFIG": "/nowhere.toml",
        "MAILDESK_TEST_POSTGRES_URL": "postgresql://x/y",
        "MAILDESK_IMAP_PASSWORD": "pw",
        "MAILDESK_SMTP_PASSWORD": "pw",
        "MAILDESK_SMTP_PORTT": "x",
        "MAILDESK_NONSENSE": "x",
    }
    assert load_config(None, environ) == defaults()


# ---------------------------------------------------------------- .env


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    dotenv = write(tmp_path, "MAILDESK_SMTP_PORT=3000\nMAILDESK_SECRET_KEY='from dotenv'\n", ".env")
    config = load_config(None, {}, dotenv_path=dotenv)
    assert config.smtp.port == 3000
    assert config.desk.secret_key == "from dotenv"


def test_real_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = write(tmp_path, "MAILDESK_SMTP_PORT=3000\nMAILDESK_WEB_PORT=3001\n", ".env")
    config = load_config(None, {"MAILDESK_SMTP_PORT": "4000"}, dotenv_path=dotenv)
    assert (config.smtp.port, config.web.port) == (4000, 3001)


def test_default_dotenv_and_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "MAILDESK_SMTP_PORT=3000\nMAILDESK_WEB_PORT=3001\n", ".env")
    monkeypatch.setenv("MAILDESK_SMTP_PORT", "4000")
    monkeypatch.delenv("MAILDESK_WEB_PORT", raising=False)
    config = load_config(None)
    assert (config.smtp.port, config.web.port) == (4000, 3001)


def test_explicit_environ_ignores_default_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "MAILDESK_SMTP_PORT=3000\n", ".env")
    assert load_config(None, {}).smtp.port == 2525


def test_missing_dotenv_is_fine(tmp_path: Path) -> None:
    assert load_config(None, {}, dotenv_path=tmp_path / ".env") == defaults()


def test_read_environ_and_password_from_env(tmp_path: Path) -> None:
    dotenv = write(tmp_path, "MAILDESK_IMAP_PASSWORD=dotpw\nEMPTY=\nBARE\n", ".env")
    env = read_environ({"MAILDESK_SMTP_PASSWORD": "realpw"}, dotenv)
    assert password_from_env("MAILDESK_IMAP_PASSWORD", env) == "dotpw"
    assert password_from_env("MAILDESK_SMTP_PASSWORD", env) == "realpw"
    assert password_from_env("EMPTY", env) is None
    assert password_from_env("BARE", env) is None
    assert password_from_env("UNSET", env) is None
    assert password_from_env("", env) is None


# ---------------------------------------------------------------- example / starter


def test_committed_example_is_generated() -> None:
    assert EXAMPLE_PATH.read_text(encoding="utf-8") == render_example(), (
        "maildesk.toml.example is stale: regenerate it with "
        "python -c 'from maildesk.config import render_example; "
        'open("maildesk.toml.example", "w").write(render_example())\''
    )


def _documented_keys(text: str) -> dict[str, list[str]]:
    """dotted key -> the comment lines just above its assignment in the example."""
    documented: dict[str, list[str]] = {}
    arrays = {f"# [[{s.name}]]" for s in SECTIONS if s.array}
    section = ""
    in_array = False
    comments: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("[") or raw in arrays:
            section = ""  # a new section header starts here
            in_array = raw in arrays
        line = raw[2:] if in_array else raw
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            comments = []
        elif line.startswith("#"):
            comments.append(line)
        elif " = " in line and section:
            documented[f"{section}.{line.split(' = ', 1)[0]}"] = comments
            comments = []
        else:
            comments = []
    return documented


def test_example_documents_every_setting() -> None:
    text = render_example()
    lines = text.splitlines()
    for section in SECTIONS:
        header = f"# [[{section.name}]]" if section.array else f"[{section.name}]"
        assert header in lines, section.name
    documented = _documented_keys(text)
    assert sorted(documented) == sorted(s.key for s in SETTINGS)
    for setting in SETTINGS:
        comments = " ".join(documented[setting.key])
        assert setting.help in comments, setting.key
        for env_name in setting.env_names:
            assert env_name in comments, env_name


def test_example_loads_to_defaults(tmp_path: Path) -> None:
    tomllib.loads(render_example())
    config = load_config(write(tmp_path, render_example()), {})
    assert dataclasses.replace(config, path=None) == defaults_in(tmp_path)


def test_example_imap_block_works_when_uncommented(tmp_path: Path) -> None:
    text = render_example()
    start = text.index("# [[imap]]")
    end = text.index("\n\n\n", start)
    block = "\n".join(line[2:] for line in text[start:end].splitlines())
    config = load_text(tmp_path, text[:start] + block + text[end:])
    assert len(config.imap) == 1 and config.imap[0].host == "imap.example.com"


def test_starter_contains_secret_and_loads(tmp_path: Path) -> None:
    secret = 'abc"def\\ghi-0123456789'
    text = render_starter(secret)
    tomllib.loads(text)
    config = load_config(write(tmp_path, text), {})
    assert config.desk.secret_key == secret
    assert config.web.submit_pow_bits == 16  # new installations ask /submit for the work
    assert dataclasses.replace(config, path=None) == dataclasses.replace(
        defaults_in(tmp_path),
        desk=dataclasses.replace(defaults().desk, secret_key=secret),
        web=dataclasses.replace(defaults().web, submit_pow_bits=16),
    )


# ---------------------------------------------------------------- resolve_config_path


def test_resolve_config_path_precedence() -> None:
    env = {"MAILDESK_CONFIG": "/etc/maildesk/env.toml"}
    assert resolve_config_path("/cli.toml", env) == Path("/cli.toml")
    assert resolve_config_path(None, env) == Path("/etc/maildesk/env.toml")
    assert resolve_config_path(None, {}) == Path("maildesk.toml") == DEFAULT_CONFIG_PATH
    assert resolve_config_path("", {"MAILDESK_CONFIG": ""}) == DEFAULT_CONFIG_PATH


def test_file_named_by_environment_must_exist(tmp_path: Path) -> None:
    path = resolve_config_path(None, {"MAILDESK_CONFIG": str(tmp_path / "missing.toml")})
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value) == f"config: file not found: {path}"
