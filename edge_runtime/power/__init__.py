"""Power: power profiles, nvpmodel, and the power manager."""
