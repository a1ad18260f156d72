-- One unit of the register by name ($name): its kind.
SELECT kind
FROM units
WHERE name = $name;
