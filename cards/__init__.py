"""Dataset-card templates (installed as the ``distillhub_cards`` package)."""
