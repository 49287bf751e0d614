// Package customers is the customers context: customers, their rules and their store.
package customers

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/identity"
)

// Customer is someone who buys from the shop.
type Customer struct {
	ID uuid.UUID `json:"id"`
	// Email is stored as given; it is unique ignoring case.
	Email string `json:"email"`
	Name  string `json:"name"`
	// Phone is an E.164 number such as +4930123456, "" when the customer gave none.
	Phone     string    `json:"phone"`
	Notify    Notify    `json:"notify"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Notify says how the customer wants to hear from the shop.
type Notify struct {
	Email bool `json:"email"`
	// SMS needs a phone number.
	SMS bool `json:"sms"`
}

// Limits on customer fields, mirrored by CHECK constraints in the migrations.
const (
	MaxNameLength = 200
	// MaxEmailLength is the longest address SMTP can carry (RFC 5321), in bytes.
	MaxEmailLength = 254
)

var (
	// ErrNotFound: no customer has the id.
	ErrNotFound = fault.New(fault.NotFound, "customer_not_found", "no customer with this id")
	// ErrEmailTaken: another customer already has the e-mail address, ignoring case.
	ErrEmailTaken = fault.New(fault.Conflict, "email_taken", "another customer already has this e-mail address")
	// ErrStale: the customer changed since the version the client named.
	ErrStale = fault.New(fault.Conflict, "version_mismatch", "the customer has changed since the version given; read it again")
	// ErrNothingToChange: an update named no field.
	ErrNothingToChange = fault.New(fault.Invalid, "nothing_to_change", "the update names no field to change")
)

// Field errors the store returns when an update would leave SMS on without a phone number.
// They are validation_failed errors, told apart by their details, not by errors.Is.
var (
	errSMSNeedsPhone     = fault.ErrValidation.With(fault.Detail{Field: "notify.sms", Message: smsNeedsPhone})
	errPhoneNeededForSMS = fault.ErrValidation.With(fault.Detail{Field: "phone", Message: "cannot be removed while SMS notifications are on; turn notify.sms off in the same update"})
)

const smsNeedsPhone = "needs a phone number"

// phonePattern is E.164: a plus sign and 7 to 15 digits, the first not 0.
var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// NotifyChoice is a client's choice of notifications; nil fields keep the default (on a new
// customer: e-mail on, SMS off) or the current setting (in a Patch).
type NotifyChoice struct {
	Email *bool `json:"email"`
	SMS   *bool `json:"sms"`
}

func (c *NotifyChoice) empty() bool { return c == nil || (c.Email == nil && c.SMS == nil) }

// NewCustomer is what a client sends to register a customer.
type NewCustomer struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	// Phone is optional.
	Phone  string        `json:"phone"`
	Notify *NotifyChoice `json:"notify"`
	// Password is what the customer signs in with (12 to 128 characters, not only white
	// space). It is stored only as an argon2id hash in identity.credentials, never trimmed,
	// echoed or logged.
	Password string `json:"password"`
}

// String keeps the password out of anything that prints a NewCustomer.
func (n NewCustomer) String() string {
	return fmt.Sprintf("{Email:%s Name:%s Phone:%s Password:[redacted]}", n.Email, n.Name, n.Phone)
}

// GoString is String for %#v.
func (n NewCustomer) GoString() string { return n.String() }

// Normalize trims surrounding white space from the text fields (not the password).
func (n *NewCustomer) Normalize() {
	n.Email = strings.TrimSpace(n.Email)
	n.Name = strings.TrimSpace(n.Name)
	n.Phone = strings.TrimSpace(n.Phone)
}

// Validate checks every field and reports all violations at once.
func (n NewCustomer) Validate() error {
	var v fault.Validator
	checkEmail(&v, n.Email)
	checkName(&v, n.Name)
	if n.Phone != "" {
		checkPhone(&v, n.Phone)
	}
	if n.Preferences().SMS && n.Phone == "" {
		v.Add("notify.sms", smsNeedsPhone)
	}
	identity.CheckPassword(&v, "password", n.Password)
	return v.Err()
}

// Preferences are the notifications the new customer gets, defaults applied.
func (n NewCustomer) Preferences() Notify {
	p := Notify{Email: true}
	if n.Notify != nil {
		if n.Notify.Email != nil {
			p.Email = *n.Notify.Email
		}
		if n.Notify.SMS != nil {
			p.SMS = *n.Notify.SMS
		}
	}
	return p
}

// Patch is a partial update: nil fields stay as they are. Phone "" removes the phone number,
// which is allowed only when SMS notifications are off afterwards.
type Patch struct {
	Name   *string       `json:"name"`
	Email  *string       `json:"email"`
	Phone  *string       `json:"phone"`
	Notify *NotifyChoice `json:"notify"`
	// Version, when given, must equal the customer's current version.
	Version *int64 `json:"version"`
}

// Normalize trims surrounding white space from the text fields.
func (p *Patch) Normalize() {
	for _, s := range []*string{p.Name, p.Email, p.Phone} {
		if s != nil {
			*s = strings.TrimSpace(*s)
		}
	}
}

// Validate checks the fields present. Rules that also depend on the stored customer (SMS
// needs a phone) are checked again by the store.
func (p Patch) Validate() error {
	if p.Name == nil && p.Email == nil && p.Phone == nil && p.Notify.empty() {
		return ErrNothingToChange
	}
	var v fault.Validator
	if p.Name != nil {
		checkName(&v, *p.Name)
	}
	if p.Email != nil {
		checkEmail(&v, *p.Email)
	}
	if p.Phone != nil && *p.Phone != "" {
		checkPhone(&v, *p.Phone)
	}
	if p.Phone != nil && *p.Phone == "" && p.Notify != nil && p.Notify.SMS != nil && *p.Notify.SMS {
		v.Add("notify.sms", smsNeedsPhone)
	}
	if p.Version != nil && *p.Version < 1 {
		v.Add("version", "must be 1 or more")
	}
	return v.Err()
}

// clearsPhone reports whether the patch removes the phone number.
func (p Patch) clearsPhone() bool { return p.Phone != nil && *p.Phone == "" }

func checkEmail(v *fault.Validator, email string) {
	switch {
	case email == "":
		v.Add("email", "is required")
	case len(email) > MaxEmailLength:
		v.Add("email", "must be at most 254 bytes")
	case !utf8.ValidString(email):
		v.Add("email", "must be valid UTF-8")
	case !bareAddress(email):
		v.Add("email", "must be a plain e-mail address such as ada@example.com, without a display name")
	}
}

// bareAddress reports whether s is exactly one address, with no display name, angle brackets,
// comments or quoting that net/mail would strip.
func bareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func checkName(v *fault.Validator, name string) {
	switch {
	case name == "":
		v.Add("name", "is required")
	case utf8.RuneCountInString(name) > MaxNameLength:
		v.Add("name", "must be at most 200 characters")
	case !utf8.ValidString(name):
		v.Add("name", "must be valid UTF-8")
	}
}

func checkPhone(v *fault.Validator, phone string) {
	if !phonePattern.MatchString(phone) {
		v.Add("phone", "must be an E.164 number: '+' and 7 to 15 digits, such as +4930123456")
	}
}
