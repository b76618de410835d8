package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

// maxReviewBytes bounds a review body: Kubernetes objects are at most
// about 1.5 MiB in etcd, and the review carries the object twice at most.
const maxReviewBytes = 8 << 20

// Handler serves POST /admission/v1/validate, the validating webhook
// Kubernetes calls. Answers that are not a review (a bad body) are HTTP
// errors, which the API server treats by the webhook's failurePolicy.
func Handler(s *Service, admitted Admitted, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("the review is over %d bytes", maxReviewBytes), http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "reading the review: "+err.Error(), http.StatusBadRequest)
			return
		}
		review, err := DecodeReview(body)
		if err != nil {
			log.Warn("admission: bad review", "err", err, "remote", r.RemoteAddr)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := s.Review(r.Context(), review.Request, admitted)
		out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(out); err != nil {
			log.Warn("admission: writing the answer", "err", err)
		}
	})
}
