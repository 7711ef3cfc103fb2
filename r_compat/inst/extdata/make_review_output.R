# Write review_r_output.csv and review_r_weights.csv: the review's experiment
# (Li, Cheng, Hsieh and Lee 2022) run by the R twin on digits01.csv, for
# readers without R (notebooks/03_review_experiment.ipynb reads them).
# Run from the repository root:  Rscript r_compat/inst/extdata/make_review_output.R
for (f in sort(list.files("r_compat/R", pattern = "[.]R$", full.names = TRUE))) source(f)
out_dir <- file.path("r_compat", "inst", "extdata")
data <- review_digits01(file.path(out_dir, "digits01.csv"))
fit <- review_fit_l1_logistic(data$x_train, data$y_train, cost = 0.5)
rows <- lapply(c(8, 16, 24, 32, 48, 64), function(eps) {
  r <- review_experiment(data, w = fit$w, eps = eps)
  data.frame(eps = eps, solver = "cd", objective = fit$objective, n_nonzero = sum(fit$w != 0),
             clean_accuracy = r$clean_accuracy, robust_accuracy = r$robust$estimate,
             robust_successes = r$robust$successes, n_test = r$robust$n,
             robust_conditional = r$robust_conditional$estimate,
             n_clean_correct = r$robust_conditional$n, n_zero_gradient = r$n_zero_gradient)
})
utils::write.csv(do.call(rbind, rows), file.path(out_dir, "review_r_output.csv"), row.names = FALSE)
utils::write.csv(data.frame(feature = seq_along(fit$w), w = sprintf("%.17g", fit$w)),
                 file.path(out_dir, "review_r_weights.csv"), row.names = FALSE, quote = FALSE)
cat("wrote review_r_output.csv and review_r_weights.csv in", out_dir, "\n")
