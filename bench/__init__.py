"""`make bench`: throughput and AWS cost per unit of work on the local stack (see README.md)."""
