"""Statistics over per-image tables: Bjontegaard deltas and the paired bootstrap."""
