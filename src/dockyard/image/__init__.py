"""Images: pull/push/unpack/commit/save/load, and the offline base-image makers."""
