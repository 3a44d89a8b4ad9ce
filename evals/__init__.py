"""Task-suite formats, user simulators, scoring (pass^k, AST match) and reports."""
