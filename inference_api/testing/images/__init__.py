"""Images made from code for the tests and benchmarks (nothing committed).

- `uploads`: small honest, hostile and non-image uploads;
- `costly`: uploads built to cost a decoder as much as the caps allow;
- `photos`: photographs at camera sizes, for the benchmarks and load tests.
"""
