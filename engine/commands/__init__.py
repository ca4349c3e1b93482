"""Command-line subcommands, one module each.

A command module defines ``HELP`` (one line), ``configure(parser)`` to add its arguments and
``run(args) -> int`` returning the exit code (0 ok, 1 run failed, 2 bad spec or arguments).
`engine.cli` discovers every module in this package, so a new command needs no edit elsewhere.
"""
