"""``dockyard``: the command a person types (Docker's commands and flags, issue 6)."""
