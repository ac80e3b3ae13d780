//! hvbench's VT-x implementation.
