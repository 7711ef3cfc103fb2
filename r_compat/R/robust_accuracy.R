# R twin of robustsk.stats.robust_accuracy_from_correct.

#' Robust accuracy over all examples or over the correctly classified ones
#'
#' @param clean_correct logical vector: correct without attack.
#' @param adv_correct logical vector: correct under attack.
#' @param over "all" (robust accuracy: an example misclassified without attack
#'   counts as a failure) or "clean_correct" (conditional robust accuracy, the
#'   fraction of clean-correct examples that survive, as Li et al. 2022 report).
#' @return a list of class robustsk_robust_accuracy: estimate, successes, n, n_total, over.
#' @export
robust_accuracy_from_correct <- function(clean_correct, adv_correct, over = "all") {
  v <- .check_paired(list(clean_correct = clean_correct, adv_correct = adv_correct))
  over <- .check_choice(over, c("all", "clean_correct"), "over")
  survived <- v$clean_correct & v$adv_correct
  n <- if (over == "all") length(survived) else sum(v$clean_correct)
  .result(list(estimate = if (n > 0) sum(survived) / n else NaN,
               successes = sum(survived), n = as.integer(n),
               n_total = length(survived), over = over),
          "robustsk_robust_accuracy")
}
