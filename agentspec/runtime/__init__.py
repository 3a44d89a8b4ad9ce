"""Chat-model backends behind one protocol."""
