"""``python -m distillhub ...`` runs the CLI (what ``torchrun ... -m distillhub distill`` needs)."""

from distillhub_cli.app import main

main()
