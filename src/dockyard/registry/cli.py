"""``dockyard-registry``: serve the registry, collect its garbage.

    dockyard-registry serve --listen 127.0.0.1:5000 --storage DIR [--config FILE]
                            [--workers N] [--access-log FILE]
    dockyard-registry gc [--storage DIR] [--config FILE] [--dry-run]
                         [--grace SECONDS] [--upload-max-age SECONDS]
    dockyard-registry htpasswd USER          (prints a bcrypt line; password on stdin)

This console script stands in until the ``dockyard`` CLI exists; ``dockyard registry
serve|gc`` will call the same functions: ``load(args)`` builds the ``RegistryConfig``
(config file first, then the flags), ``serve(cfg)`` and ``collect_garbage(cfg, ...)`` do
the work, and only ``main`` parses argv and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dockyard.errors import DockyardError
from dockyard.registry import gc
from dockyard.registry.auth.htpasswd import hash_password
from dockyard.registry.config import RegistryConfig, load_config, validate_config
from dockyard.registry.server import open_registry, run_server


def load(config: str | None, *, listen: str | None = None, storage: str | None = None,
         workers: int | None = None, access_log: str | None = None) -> RegistryConfig:
    """The configuration: the file's (or the defaults), then the flags given."""
    cfg = load_config(config).with_overrides(listen=listen, storage_root=storage,
                                             workers=workers, access_log=access_log)
    validate_config(cfg)
    return cfg


def serve(cfg: RegistryConfig) -> int:
    def ready(url: str) -> None:
        print(f"dockyard registry listening on {url}", flush=True)
    return run_server(cfg, ready)


def collect_garbage(cfg: RegistryConfig, *, dry_run: bool, grace: float | None = None,
                    upload_max_age: float | None = None) -> gc.GCReport:
    registry = open_registry(cfg)
    return gc.collect(registry, grace=cfg.gc_grace if grace is None else grace,
                      upload_max_age=(cfg.upload_max_age if upload_max_age is None
                                      else upload_max_age), dry_run=dry_run)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard-registry",
                                description="An OCI distribution registry.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the registry")
    s.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000)")
    s.add_argument("--storage", help="storage root directory")
    s.add_argument("--config", help="TOML configuration file")
    s.add_argument("--workers", type=int, help="worker processes sharing the port")
    s.add_argument("--access-log", help="write the access log to this file")
    s.add_argument("--debug", action="store_true")
    g = sub.add_parser("gc", help="garbage-collect unreferenced blobs and stale uploads")
    g.add_argument("--storage", help="storage root directory")
    g.add_argument("--config", help="TOML configuration file")
    g.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    g.add_argument("--grace", type=float, help="seconds a blob stays after its last use")
    g.add_argument("--upload-max-age", type=float, help="seconds an idle upload stays")
    h = sub.add_parser("htpasswd", help="print an htpasswd line (password read on stdin)")
    h.add_argument("user")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "debug", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            return serve(load(args.config, listen=args.listen, storage=args.storage,
                              workers=args.workers, access_log=args.access_log))
        if args.command == "gc":
            cfg = load(args.config, storage=args.storage)
            report = collect_garbage(cfg, dry_run=args.dry_run, grace=args.grace,
                                     upload_max_age=args.upload_max_age)
            verb = "would remove" if report.dry_run else "removed"
            print(f"{len(report.marked)} blobs in use; {verb} {len(report.swept)} blobs "
                  f"({report.bytes_freed} bytes), {len(report.links_removed)} links, "
                  f"{len(report.uploads_purged)} stale uploads; kept "
                  f"{len(report.kept_young)} young unreferenced blobs")
            for d in report.swept:
                print(f"  blob {d}")
            for upload_id in report.uploads_purged:
                print(f"  upload {upload_id}")
            return 0
        password = sys.stdin.readline().rstrip("\n")
        print(f"{args.user}:{hash_password(password)}")
        return 0
    except DockyardError as e:
        print(f"dockyard-registry: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
