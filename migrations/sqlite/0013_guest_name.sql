-- radgate schema v13: a code's optional GuestName (SPEC §12): the guest a
-- desk issued it to, searchable and printed on the voucher.
ALTER TABLE access_tokens ADD COLUMN guest_name TEXT;
