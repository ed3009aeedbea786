package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/presenced/presenced/node/apierr"
)

// decodeBody reads a JSON object body of the internal API into v (a struct
// of pointer fields, so that absent and wrongly typed keys are told apart).
// Keys v does not name are ignored, as on the client API.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, a.cfg.InternalMaxBodyBytes)
	if err != nil {
		return err
	}
	if !json.Valid(body) {
		return apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return apierr.Errorf(apierr.KindBadJSON, "Content must be a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return apierr.Errorf(apierr.KindBadJSON, "Key %q has the wrong type.", te.Field)
		}
		return apierr.Errorf(apierr.KindBadJSON, "Content does not have the expected shape.")
	}
	return nil
}

// requireString returns *s, refusing a missing or empty value of key.
func requireString(s *string, key string) (string, error) {
	if s == nil {
		return "", apierr.Errorf(apierr.KindMissingParam, "Missing %s.", key)
	}
	if *s == "" {
		return "", apierr.Errorf(apierr.KindInvalidParam, "%s must not be empty.", key)
	}
	return *s, nil
}
