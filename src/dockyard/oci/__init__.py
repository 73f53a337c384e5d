"""OCI types shared by every part of dockyard: runtime spec, digests, descriptors, manifests."""
