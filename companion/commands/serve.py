"""`imageprotector serve`: the companion server on 127.0.0.1 (and ::1), for the extension and the watcher."""

from __future__ import annotations

import argparse

from companion.commands.common import OFFLOAD_HELP, device_name
from companion.server.config import OFFLOAD_MODES


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the local companion server (model loaded once, jobs queued)")
    p.add_argument("--port", type=int, default=None, help="default: $IMAGEPROTECTOR_PORT, the config file, or 8765")
    p.add_argument("--model", action="append", help="models to load (default: the config file's, or demo)")
    p.add_argument("--device", default=None, type=device_name,
                   help="where the models run (default: the config file's, else auto: CUDA, MPS, then the CPU)")
    p.add_argument("--queue-size", type=int, default=None, help="jobs that may wait (default 8)")
    p.add_argument("--lazy", action="store_true", help="load the models on the first job instead of at start")
    p.add_argument("--checkpointing", action="store_true",
                   help="recompute each layer's activations in the backward pass (less GPU memory, same result)")
    p.add_argument("--offload", choices=OFFLOAD_MODES, default=None, help=OFFLOAD_HELP)
    p.add_argument("--idle-exit", type=float, default=None, metavar="MINUTES",
                   help="exit after this many minutes with no request and no job (default: never)")
    p.add_argument("--watch", action="append", metavar="DIR",
                   help="also protect each new photo in DIR, once (repeat; default: the config file's 'watch')")


def run(args: argparse.Namespace) -> int:
    from companion.server.config import load_config
    from companion.server.serve import serve

    config = load_config(port=args.port, models=args.model, device=args.device, queue_size=args.queue_size,
                         preload=False if args.lazy else None, idle_exit=args.idle_exit,
                         checkpointing=True if args.checkpointing else None, offload=args.offload)
    beside = None
    if args.watch or config.watch:
        from watcher.run import beside_server, folders_from

        beside = beside_server(folders_from(config, args.watch))
    serve(config, beside)
    return 0
