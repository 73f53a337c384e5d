"""The commands of ``dockyard``, one module per noun; ``main``\x27s table names them."""
