//! Presets for the front desk's quick issue (SPEC §10): a manager names a
//! kind of code — its time, its data, its window from first use, its
//! device limit, single use, its business — and the desk makes 1..N such codes at once.

use crate::token::NewToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub id: i64,
    pub name: String,
    pub business_id: i64,
    pub minutes_included: i64,
    pub valid_for_minutes: Option<i64>,
    pub user_limit: Option<i64>,
    pub single_use: bool,
    pub created_on: i64,
    /// MegabytesIncluded of its codes (`None`: unlimited).
    pub megabytes_included: Option<i64>,
}

/// A preset to add (checked by [`NewPreset::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPreset {
    pub name: String,
    pub business_id: i64,
    pub minutes_included: i64,
    pub valid_for_minutes: Option<i64>,
    pub user_limit: Option<i64>,
    pub single_use: bool,
    pub megabytes_included: Option<i64>,
}

impl NewPreset {
    /// What is wrong with it, in words, naming the field.
    pub fn check(&self) -> Result<(), String> {
        let n = self.name.trim();
        if n.is_empty() || n.chars().count() > 60 || n.chars().any(char::is_control) {
            return Err("Name: 1 to 60 characters.".into());
        }
        if !(1..=100 * 525_600).contains(&self.minutes_included) {
            return Err("Time: at least 1 minute.".into());
        }
        if self
            .valid_for_minutes
            .is_some_and(|m| !(1..=100 * 525_600).contains(&m))
        {
            return Err("Valid for: at least 1 minute, or empty.".into());
        }
        if self.user_limit.is_some_and(|u| !(1..=10_000).contains(&u)) {
            return Err("Devices: 1 or more, or empty for no limit.".into());
        }
        if self
            .megabytes_included
            .is_some_and(|m| !(1..=crate::token::MAX_MEGABYTES).contains(&m))
        {
            return Err("Data: at least 1 MB, or empty for no limit.".into());
        }
        if self.business_id < 0 {
            return Err("Business: 0 or more.".into());
        }
        Ok(())
    }
}

impl Preset {
    /// A code of this preset (its code and author filled in by the caller).
    pub fn template(&self) -> NewToken {
        NewToken {
            business_id: self.business_id,
            access_code: String::new(),
            description: Some(self.name.clone()),
            guest_name: None,
            minutes_included: self.minutes_included,
            valid_from: None,
            valid_to: None,
            user_limit: self.user_limit,
            mac_address: None,
            booking_guid: None,
            visitor_guid: None,
            updated_by: None,
            valid_for_minutes: self.valid_for_minutes,
            single_use: self.single_use,
            rate_limit: None,
            megabytes_included: self.megabytes_included,
        }
    }

    pub fn audit_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Name": self.name,
            "BusinessId": self.business_id,
            "MinutesIncluded": self.minutes_included,
            "ValidForMinutes": self.valid_for_minutes,
            "UserLimit": self.user_limit,
            "SingleUse": self.single_use,
            "MegabytesIncluded": self.megabytes_included,
        })
    }
}
