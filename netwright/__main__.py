"""`python -m netwright`: the same as the `netwright` command."""
import sys

from netwright import main

sys.exit(main())
