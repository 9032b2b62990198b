"""The simulated guest: a client of the lab host writing to its disk and its memory."""
