"""Output formatting for the ``dockyard`` CLI, with no daemon and no heavy imports.

- ``template``: Go's text/template subset docker users write in ``--format`` (with
  docker's functions ``json join split title lower upper pad truncate``);
- ``gofmt``: Go's printing of values (``fmt.Sprint``, ``printf``, floats, ``%q``);
- ``table``: docker's tabwriter (minwidth 10, tabwidth 1, padding 3) and the ``table``
  prefix with its header row;
- ``human``: go-units sizes and durations, docker's status words, truncated ids and
  commands.

Every module here imports only the standard library's lightest parts: ``dockyard ps``
pays for them on each run.
"""
