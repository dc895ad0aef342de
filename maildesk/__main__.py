"""`python -m maildesk` runs the command line interface."""

from maildesk.cli import main

if __name__ == "__main__":
    main()
