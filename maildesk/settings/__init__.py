"""The sections of ``maildesk.toml``, each key declared once as a typed field.

Where this sits: under :mod:`maildesk.config`, which loads files and the
environment into these models and derives from them its settings table, the
example file and the one-line error messages.  Kept apart from ``config.py``
only for length: ``sections`` holds the declarations, ``checks`` the value
checks they name.  Nothing else should import this package; use
``maildesk.config``.
"""
