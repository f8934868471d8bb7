"""Chat campaigns: a published, manually triggered journey run for an audience on a plan."""
