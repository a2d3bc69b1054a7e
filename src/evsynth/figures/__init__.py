"""Figures: forest, funnel, onset, duration, side effects, PRISMA flow."""
