"""The self-contained HTML summary report."""
