"""Teaching content on top of the lab host: the demo lab and the lessons' scenarios."""
