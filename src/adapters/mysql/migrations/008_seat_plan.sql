-- The seat plan (coordinates a storefront draws the venue with), kept with
-- the layout it places, as JSON text: a section's outline and, for general
-- admission, its area; a row's placement (its line or arc, and seats placed
-- one by one). NULL where the event has no plan, as for every event made
-- before it.
ALTER TABLE sections ADD COLUMN plan MEDIUMTEXT NULL;
ALTER TABLE section_rows ADD COLUMN placement MEDIUMTEXT NULL;
