"""Channels that sell through placement: the call centre and the store till (`assisted`) and
marketplace order files (`marketplace`). The highest part of `orders`."""
