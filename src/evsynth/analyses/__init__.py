"""Analyses: onset (time course), duration (durability, relapse), adverse events, sensitivity."""
