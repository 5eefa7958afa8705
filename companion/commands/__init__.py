"""The `imageprotector` subcommands, one module each: `add_parser(subparsers)` and `run(args)`.

They only translate between the terminal and the engine (DESIGN.md: one engine, three
front doors).
"""
