"""The index of due work: things to start at a minute (audience refreshes, scheduled
tasks, journey timers, chat-campaign runs), drained by the one-minute schedule without a
table scan. ``buckets`` decides (pure), ``repo`` stores, ``dispatch`` runs."""
