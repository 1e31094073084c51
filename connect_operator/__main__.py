"""`python -m connect_operator`: the same command line as the `connect-operator` script."""

from connect_operator.cli import main

main()
