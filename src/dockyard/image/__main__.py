"""``python -m dockyard.image``: offline base material without a daemon.

    python -m dockyard.image rootfs DEST          a busybox root filesystem at DEST
    python -m dockyard.image busybox DATA_ROOT    the busybox:latest image in a data root
                                                  (one no daemon is running on)
"""

from __future__ import annotations

import sys

USAGE = __doc__ or ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("rootfs", "busybox"):
        sys.stderr.write(USAGE)
        return 2
    if args[0] == "rootfs":
        from dockyard.image.busybox import make_busybox_rootfs

        make_busybox_rootfs(args[1])
        return 0
    from dockyard.image import ImageService

    with ImageService.open(args[1]) as images:
        print("busybox:latest", images.make_busybox().id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
