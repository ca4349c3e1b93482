"""`python main.py [COMMAND ...]` from a checkout: the same as the installed `netwright` command."""
from netwright import main

if __name__ == "__main__":
    raise SystemExit(main())
