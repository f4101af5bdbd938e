"""The storefront's forms: what a person types, read and checked for shape; the rules are in services."""

from __future__ import annotations

from django import forms

from storefront.models import RATING_COMMENT_MAX, Piece, PortfolioService

STARS = [(n, f"{n} — {label}") for n, label in
         ((5, "excellent"), (4, "good"), (3, "fair"), (2, "poor"), (1, "bad"))]


class RatingForm(forms.Form):
    score = forms.TypedChoiceField(choices=STARS, coerce=int, widget=forms.RadioSelect, label="Your rating",
                                   error_messages={"required": "Choose 1 to 5 stars."})
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=RATING_COMMENT_MAX,
                              label="What went well, or not?")
    publish = forms.BooleanField(required=False, label="Publish this comment on the studio's page")
    shown_name = forms.CharField(required=False, max_length=80, label="Your name as shown",
                                 help_text="For example “Dora Director” or “Dora D.”.")
    shown_company = forms.CharField(required=False, max_length=120, label="Company as shown",
                                    help_text="Leave empty to show no company.")


class PairForm(forms.Form):
    title = forms.CharField(max_length=120, label="Title", help_text="What the piece is, e.g. “Rose-gold solitaire”.")
    service = forms.ChoiceField(choices=PortfolioService.choices, label="Shows")
    piece = forms.ChoiceField(choices=Piece.choices, label="Piece")
    position = forms.IntegerField(min_value=0, max_value=100_000, initial=0, required=False, label="Position",
                                  help_text="Lower numbers are shown first.")

    def clean_position(self) -> int:
        return self.cleaned_data.get("position") or 0


class SamplesInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class EstimateForm(forms.Form):
    """The instant estimate's form: shapes only (the rules and their words are ``storefront.estimates``')."""

    files = forms.Field(required=False, label="Sample photos", widget=SamplesInput(
        attrs={"accept": "image/jpeg,image/png,image/tiff,.jpg,.jpeg,.png,.tif,.tiff"}),
        help_text="Up to 5 typical pictures: JPEG, PNG or TIFF. They are graded and deleted at once; nobody sees them.")
    services = forms.MultipleChoiceField(choices=[], required=False, widget=forms.CheckboxSelectMultiple,
                                         label="What should we do?")
    turnaround = forms.ChoiceField(choices=[], widget=forms.RadioSelect, required=False, label="Turnaround",
                                   initial="standard")
    count = forms.CharField(required=False, label="How many pictures like these?", initial="20",
                            widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}))

    def __init__(self, *args: object, services: list[tuple[str, str]], turnarounds: list[tuple[str, str]],
                 max_count: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["services"].choices = services
        self.fields["turnaround"].choices = turnarounds
        self.fields["count"].widget.attrs["max"] = max_count


class TrialForm(forms.Form):
    """The free trial's request: shapes only (the rules and their words are ``storefront.trials``')."""

    company = forms.CharField(label="Company", max_length=200, required=False,
                              widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    contact_name = forms.CharField(label="Your name", max_length=150, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.CharField(label="E-mail", max_length=254, required=False,
                            widget=forms.EmailInput(attrs={"autocomplete": "email"}),
                            help_text="The studio answers here; if it accepts, your invitation to sign in comes here too.")
    country = forms.CharField(label="Country", max_length=2, required=False,
                              widget=forms.TextInput(attrs={"autocomplete": "country", "size": 3,
                                                            "placeholder": "FR"}),
                              help_text="Two letters, as on your VAT id: FR, DE, US…")
    vat_number = forms.CharField(label="VAT id (optional)", max_length=32, required=False)
    services = forms.MultipleChoiceField(choices=[], required=False, widget=forms.CheckboxSelectMultiple,
                                         label="What should we do?")
    pictures = forms.CharField(label="Free pictures", required=False,
                               widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}))
    message = forms.CharField(label="Anything we should know? (optional)", required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}))
    estimate = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: object, services: list[tuple[str, str]], offered: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["services"].choices = services
        self.fields["pictures"].widget.attrs["max"] = offered
        self.fields["pictures"].help_text = f"Up to {offered}, retouched free of charge as your first order."


class TrialDeclineForm(forms.Form):
    reason = forms.CharField(label="Why (sent to them)", max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}))
