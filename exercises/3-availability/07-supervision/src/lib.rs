//! Generated from solutions/3-availability/07-supervision by cargo lab generate 7.
