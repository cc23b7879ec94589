"""The ``distillhub`` command line (installed as the ``distillhub_cli`` package)."""
