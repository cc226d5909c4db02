-- depends: 0004_wait_deadline_index
-- IMS: "An image can have a maximum of 10 tags." The tag calls lock the image before they write its tags; this
-- keeps the limit whatever writes them. NOT VALID: an image tagged under the earlier limit of 20 keeps its tags (a
-- change to them must bring them within 10).
ALTER TABLE images ADD CONSTRAINT at_most_ten_tags CHECK (jsonb_array_length(tags) <= 10) NOT VALID;
