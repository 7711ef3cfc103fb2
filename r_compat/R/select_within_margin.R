# R twin of robustsk.stats.select_within_margin and one_standard_error_rule.

#' The cheapest candidate not significantly worse than the best
#'
#' rule = "margin": every candidate is tested against the best (highest mean
#' score) with a one-sided corrected resampled t-test of H0 "its shortfall is
#' at most margin" (see compare_cv_scores); those not rejected at alpha are
#' eligible. rule = "one-se": eligible are the candidates within one standard
#' error of the best mean (sd / sqrt(J), or the Nadeau-Bengio corrected
#' sd * sqrt(1/J + n_test/n_train) when n_train and n_test are given). The
#' eligible candidate with the lowest cost is chosen (ties: higher mean).
#'
#' @param scores matrix of split scores, one column per candidate.
#' @param cost numeric cost of each candidate (e.g. mean fit time), lower preferred.
#' @param margin acceptable shortfall in score units (>= 0).
#' @param rule "margin" or "one-se".
#' @param n_train,n_test fold sizes for the correction.
#' @param alpha level of the one-sided tests.
#' @param correction "nadeau-bengio" or "none".
#' @return a list of class robustsk_selection: index (1-based column of the
#'   choice), candidate, best_index, best_candidate, rule, margin and table
#'   (candidate, index, mean, shortfall, std_error, pvalue, eligible, cost, chosen, left_out).
#'   Candidates with a missing (NA) split score (failed fits) are not compared: they come last
#'   with left_out = TRUE. A lone candidate is chosen without a test.
#' @export
select_within_margin <- function(scores, cost, margin = 0.01, rule = "margin", n_train = NULL,
                                 n_test = NULL, alpha = 0.05, correction = "nadeau-bengio") {
  scores <- as.matrix(scores)
  rule <- .check_choice(rule, c("margin", "one-se"), "rule")
  if (rule == "margin" && (!is.numeric(margin) || length(margin) != 1 || is.na(margin) || margin < 0)) {
    stop(sprintf("margin must be one non-negative number in score units; got %s.", .describe(margin)),
         call. = FALSE)
  }
  if (length(cost) != ncol(scores)) {
    stop(sprintf("cost has %d entries for %d candidates; give one per column of scores.",
                 length(cost), ncol(scores)), call. = FALSE)
  }
  if (is.null(colnames(scores))) colnames(scores) <- paste0("candidate_", seq_len(ncol(scores)) - 1)
  if (rule == "one-se" && xor(is.null(n_train), is.null(n_test))) {
    stop(sprintf(paste0("rule 'one-se' got n_train=%s and n_test=%s; the corrected standard error needs ",
                        "both (sizes of one training and one test fold). Pass both, or neither for the ",
                        "uncorrected sd / sqrt(J)."), .describe(n_train), .describe(n_test)), call. = FALSE)
  }
  if (rule == "one-se" && is.null(n_train)) correction <- "none"
  failed <- apply(is.na(scores), 2, any)
  keep <- which(!failed)
  if (length(keep) == 0) {
    stop(sprintf(paste0("every candidate (%d) has a missing (NA) split score, e.g. every fit failed; ",
                        "there is nothing to choose from. Fix the failing fits and compare again."),
                 ncol(scores)), call. = FALSE)
  }
  J <- nrow(scores)
  if (length(keep) == 1) {
    col <- scores[, keep]
    s <- data.frame(candidate = colnames(scores)[keep], mean = mean(col),
                    std = if (J > 1) stats::sd(col) else NaN, stringsAsFactors = FALSE)
    shortfall <- 0
    pw <- data.frame(std_error = numeric(0))
  } else {
    cmp <- compare_cv_scores(scores[, keep, drop = FALSE], n_train = n_train, n_test = n_test,
                             alpha = alpha, correction = correction)
    s <- cmp$summary
    pw <- cmp$pairwise[cmp$pairwise$candidate_a == s$candidate[1], ]
    pw <- pw[match(s$candidate[-1], pw$candidate_b), ]
    shortfall <- c(0, pw$difference)
  }
  best <- s$candidate[1]
  if (rule == "one-se") {
    factor <- 1 / J + if (correction != "none") n_test / n_train else 0
    margin <- s$std[1] * sqrt(factor)
    se <- rep(margin, nrow(s))
    pvalue <- rep(NaN, nrow(s))
    eligible <- c(TRUE, shortfall[-1] <= margin)
  } else {
    se <- c(0, pw$std_error)
    pvalue <- ifelse(se > 0, stats::pt((shortfall - margin) / se, J - 1, lower.tail = FALSE),
                     ifelse(shortfall > margin, 0, 1))
    pvalue[1] <- NaN
    eligible <- c(TRUE, pvalue[-1] > alpha)
  }
  index <- match(s$candidate, colnames(scores))
  table <- data.frame(candidate = s$candidate, index = index, mean = s$mean, shortfall = shortfall,
                      std_error = se, pvalue = pvalue, eligible = eligible, cost = cost[index],
                      stringsAsFactors = FALSE)
  pool <- which(eligible)
  pick <- pool[order(table$cost[pool], -table$mean[pool], pool)][1]
  table$chosen <- seq_len(nrow(table)) == pick
  table$left_out <- FALSE
  out <- list(index = table$index[pick], candidate = table$candidate[pick], best_index = index[1],
              best_candidate = best, rule = rule, margin = margin)
  if (any(failed)) {  # left out, last, as scikit-learn ranks failed candidates
    dropped <- which(failed)
    table <- rbind(table, data.frame(candidate = colnames(scores)[dropped], index = dropped, mean = NaN,
                                     shortfall = NaN, std_error = NaN, pvalue = NaN, eligible = FALSE,
                                     cost = NaN, chosen = FALSE, left_out = TRUE,
                                     stringsAsFactors = FALSE))
  }
  out$table <- table
  .result(out, "robustsk_selection")
}
