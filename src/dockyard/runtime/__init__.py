"""The OCI runtime: namespaces, rootfs, cgroups, capabilities, init; and the supervisor."""
