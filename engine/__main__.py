"""`python -m engine <command>`: the headless CLI (same as `python main.py <command>`)."""
import sys

from engine.cli import main

sys.exit(main())
