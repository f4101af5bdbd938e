"""The studio-wide models: the custom user with its role, and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac


class Role(models.TextChoices):
    CLIENT_ADMIN = "client_admin", "Client admin"
    CLIENT_MEMBER = "client_member", "Client member"
    ACCOUNT_MANAGER = "account_manager", "Account manager"
    RETOUCHER = "retoucher", "Retoucher"
    QC = "qc", "QC reviewer"
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Admin"


CLIENT_ROLES = frozenset({Role.CLIENT_ADMIN, Role.CLIENT_MEMBER})
STUDIO_ROLES = frozenset(set(Role) - CLIENT_ROLES)
# Studio roles that see every client's orders (retouchers and QC see only their work).
ALL_ORDERS_ROLES = frozenset({Role.ACCOUNT_MANAGER, Role.FINANCE, Role.ADMIN})
MANAGER_ROLES = frozenset({Role.ACCOUNT_MANAGER, Role.ADMIN})


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Berlin).")


def studio_time_zone() -> str:
    return settings.TIME_ZONE


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # E-mail addresses are matched case-insensitively: people type them both ways.
        return self.get(email__iexact=username or "")

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields["role"] = Role.ADMIN
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser):
    """A person who logs in with e-mail and password. One role each (DESIGN.md §2).

    Client users additionally hold a ``clients.Membership`` that ties them to their company.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("e-mail address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=Role.choices)
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone],
        help_text="Display zone for this person; empty means the studio's zone.",
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Part of the session hash: raising it ends every session of this person at once (seat removed,
    # role changed, company deactivated), as a password change does.
    session_epoch = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="user_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.email.lower()

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        key_salt = "agency.models.User.session"
        return salted_hmac(key_salt, f"{self.password}:{self.session_epoch}", secret=secret,
                           algorithm="sha256").hexdigest()

    def company_allows_access(self) -> bool:
        """Studio users: always. Client users: only with a seat in an active company."""
        if not self.is_client:
            return True
        membership = getattr(self, "membership", None)
        return membership is not None and membership.client.is_active

    @property
    def is_client(self) -> bool:
        return self.role in CLIENT_ROLES

    @property
    def is_studio(self) -> bool:
        return self.role in STUDIO_ROLES

    # Django admin is for the admin role only (SECURITY.md §3.13).
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_superuser(self) -> bool:
        return self.is_staff

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def password_fingerprint(user: User) -> str:
    """A keyed hash of the user's password hash: changes whenever the password changes."""
    return hmac.new(settings.SECRET_KEY.encode(), user.password.encode(), hashlib.sha256).hexdigest()[:32]


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self) -> ApiTokenQuerySet:
        return self.filter(expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; it expires, and it dies with the
    password it was issued under (any password change anywhere invalidates it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for, e.g. \"PIM sync\".")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    password_fingerprint = models.CharField(max_length=32, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… for {self.user.email}"

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple[ApiToken, str]:
        """Create a token and return it with its clear-text key, which is shown exactly once."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name,
            digest=_digest(key),
            prefix=key[:8],
            password_fingerprint=password_fingerprint(user),
            expires_at=timezone.now() + timedelta(days=settings.LOUPE_API_TOKEN_DAYS),
        )
        return token, key

    @classmethod
    def find(cls, key: str) -> ApiToken | None:
        return cls.objects.select_related("user__membership__client").filter(digest=_digest(key)).first()

    def is_valid(self) -> bool:
        """Unexpired, its user active and allowed in (a client user needs a seat in an active company),
        and issued under the current password."""
        return (
            self.expires_at > timezone.now()
            and self.user.is_active
            and self.user.company_allows_access()
            and hmac.compare_digest(self.password_fingerprint, password_fingerprint(self.user))
        )


def default_working_days() -> list[int]:
    return [0, 1, 2, 3, 4]


class StaffProfile(models.Model):
    """A studio person's working pattern. Their skills are the catalog services that name them
    (``jobs.Service.skilled_staff``), declared in ``jobs`` so that ``agency`` imports nothing above it."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="staff_profile")
    daily_capacity_minutes = models.PositiveIntegerField(
        default=420, help_text="Minutes of retouching this person can take on per working day.",
    )
    working_days = models.JSONField(default=default_working_days,
                                    help_text="Weekdays worked, 0 = Monday … 6 = Sunday.")

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return f"{self.user.full_name}: {self.daily_capacity_minutes} min/day"

    def clean(self) -> None:
        days = self.working_days
        if not isinstance(days, list) or not days or any(d not in range(7) for d in days) or len(set(days)) != len(days):
            raise ValidationError({"working_days": "List distinct weekdays from 0 (Monday) to 6 (Sunday)."})
        if self.daily_capacity_minutes > 24 * 60:
            raise ValidationError({"daily_capacity_minutes": "A day has at most 1440 minutes."})
        if not self.user.is_studio:
            raise ValidationError({"user": "Only studio staff have a staff profile."})


def default_hours() -> dict[str, list[str]]:
    return {"0": ["09:00", "18:00"], "1": ["09:00", "18:00"], "2": ["09:00", "18:00"], "3": ["09:00", "18:00"],
            "4": ["09:00", "17:00"]}


def studio_country() -> str:
    return settings.LOUPE_COUNTRY


class BusinessCalendar(models.Model):
    """The studio's working week (one row). Turnaround promises count only these hours."""

    time_zone = models.CharField(max_length=64, default=studio_time_zone, validators=[validate_time_zone])
    country = models.CharField(max_length=2, default=studio_country,
                               help_text="ISO country code whose public holidays are days off (e.g. DE, US).")
    hours = models.JSONField(default=default_hours,
                             help_text='Working hours per weekday, 0 = Monday: {"0": ["09:00", "18:00"], …}. '
                                       "Missing days are closed.")

    class Meta:
        verbose_name = "business calendar"

    def __str__(self) -> str:
        return f"Business calendar ({self.time_zone}, {self.country})"

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # a single row
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        from agency.calendar import parse_hours

        try:
            parsed = parse_hours(self.hours or {})
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValidationError({"hours": f"Give hours as {{\"0\": [\"09:00\", \"18:00\"]}}: {exc}"}) from exc
        if not parsed:
            raise ValidationError({"hours": "The studio needs at least one working day."})
        try:
            import holidays

            holidays.country_holidays(self.country)
        except NotImplementedError as exc:
            raise ValidationError({"country": f"No public holidays are known for {self.country!r}."}) from exc



class Closure(models.Model):
    """Days the studio is closed beyond public holidays (company holidays, moves, inventory)."""

    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["start_date"]
        constraints = [models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")),
                                              name="closure_dates_ordered")]

    def __str__(self) -> str:
        return f"{self.reason} ({self.start_date} – {self.end_date})"


class TimeOff(models.Model):
    """A studio person's leave: no work is scheduled for them on these days."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="time_off")
    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["start_date"]
        constraints = [models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")),
                                              name="timeoff_dates_ordered")]

    def __str__(self) -> str:
        return f"{self.user.full_name}: {self.start_date} – {self.end_date}"


class Notification(models.Model):
    """One line of a person's bell (and the mail about it, unless they opted out of that kind).
    ``source`` identifies what it is about (an event id), unique per person: each is made once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30)
    source = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, max_length=2000)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "source"], name="one_notification_per_source")]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"


class NotificationPreference(models.Model):
    """A person's opt-out for one kind of notification (no row: bell and mail both on)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=30)
    email = models.BooleanField(default=True)
    bell = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="one_preference_per_kind")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: mail {self.email}, bell {self.bell}"


class SecurityEvent(models.Model):
    """One line of the security log: who did what to whose access, when and from where. Rows are
    snapshots (names and addresses as they were) and are never edited. ``company_id`` is the client
    company concerned, if any, so a client admin sees their company's lines (``agency`` imports
    nothing above it, hence an id and a name rather than a foreign key)."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
        LOCKED_OUT = "locked_out", "Locked out after failed sign-ins"
        TWO_FACTOR_ON = "two_factor_on", "Two-factor sign-in turned on"
        TWO_FACTOR_OFF = "two_factor_off", "Two-factor sign-in turned off"
        RECOVERY_CODES = "recovery_codes", "New recovery codes"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        INVITATION_SENT = "invitation_sent", "Invitation sent"
        ROLE_CHANGED = "role_changed", "Role changed"
        SEAT_REMOVED = "seat_removed", "Seat removed"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        COMPANY_DEACTIVATED = "company_deactivated", "Company access suspended"
        COMPANY_REACTIVATED = "company_reactivated", "Company access restored"
        PERSON_ERASED = "person_erased", "Person's data erased"
        DATA_EXPORTED = "data_exported", "Company data exported"
        SHARE_CREATED = "share_created", "Review link sent"
        SHARE_REVOKED = "share_revoked", "Review link revoked"
        SHARE_OPENED = "share_opened", "Review link opened"
        SHARE_DOWNLOADED = "share_downloaded", "Download through a review link"
        SHARE_DECIDED = "share_decided", "Decision through a review link"
        GUEST_LOCKED_OUT = "guest_locked_out", "Review link locked after wrong passwords"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    subject = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject_email = models.CharField(max_length=254, blank=True)
    company_id = models.UUIDField(null=True, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    tenant_path = "company_id"  # clients.tenancy.scope: a client admin sees their company's lines

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["company_id", "-at"], name="securityevent_company_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}: {self.subject_email or self.actor_email}"


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key``, kept 24 hours so a retried request
    (a timeout, a lost connection) gets the same answer without the work being done twice. Keys are
    per person; ``status_code`` is empty while the first request is still running."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=500, blank=True)
    body = models.BinaryField(blank=True, default=b"")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"


class LiveMessage(models.Model):
    """A live page's news on the embedded defaults (``agency.live``): without Redis, the web process's streams
    read what the worker and the other requests published from this table. Kept a few minutes; never read
    where Redis carries them."""

    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=80, db_index=True)
    body = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.topic}: {self.body[:60]}"


HEX_COLOUR = RegexValidator(r"^#[0-9A-Fa-f]{6}$", "Use a hex colour such as #FFFFFF.")


class StudioBrand(models.Model):
    """The studio's own brand (one row, ``agency.brand``): its name, logo and colours in the portal, the public
    pages and the invoices, and the sender of its mail. Empty fields fall back to the defaults that ship."""

    name = models.CharField(max_length=80, blank=True,
                            help_text="The studio's name on every page and mail; empty: the installation's default.")
    tagline = models.CharField(max_length=200, blank=True, help_text="One line under the name on the public page.")
    logo = models.CharField(max_length=300, blank=True, editable=False, help_text="Storage key of the logo (PNG).")
    logo_width = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    logo_height = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    accent = models.CharField("accent colour", max_length=7, blank=True, validators=[HEX_COLOUR],
                              help_text="Links and buttons (white text on it).")
    header = models.CharField("header colour", max_length=7, blank=True, validators=[HEX_COLOUR],
                              help_text="The top bar behind the name and menu (white text on it).")
    sender_name = models.CharField("mail sender name", max_length=80, blank=True)
    sender_email = models.EmailField("mail sender address", blank=True,
                                     help_text="The From: of every mail; your mail provider must allow it.")
    footer = models.CharField(max_length=300, blank=True, help_text="A line at the foot of every page and mail.")
    domain = models.CharField("custom domain", max_length=253, blank=True,
                              help_text="Where clients reach the studio (retouch.example.com): links in mail and the "
                                        "sitemap use it. Point it at this server first.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "studio brand"

    def __str__(self) -> str:
        return self.name or "Studio brand"

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # a single row
        super().save(*args, **kwargs)  # type: ignore[arg-type]
