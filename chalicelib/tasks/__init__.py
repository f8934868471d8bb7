"""Marketing tasks: one send on one channel to an audience or an id list, now or at a time."""
