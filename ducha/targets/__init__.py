"""The year's register: a decomposition table read as governments publish it (tables), the
numbers in each task proposed as metrics (metrics), imported with stable task ids and history
(register), and confirmed or corrected by people in a review file (review)."""
